require "envelope";
if envelope :is "from" "bob@example.com" { redirect "env-bob@example.net"; }
if envelope :is "from" "" { discard; }
