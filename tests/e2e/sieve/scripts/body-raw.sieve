require "body";
if body :raw :contains "PGh0bWw+" { discard; }
