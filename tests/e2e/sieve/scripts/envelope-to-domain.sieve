require "envelope";
if envelope :domain :is "to" "example.org" { redirect "local@example.net"; }
