require "body";
if body :contains "noon" { redirect "noon@example.net"; }
if body :text :contains "artichoke" { discard; }
