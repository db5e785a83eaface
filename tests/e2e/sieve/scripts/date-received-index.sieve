require ["date", "index"];
if date :index 1 :zone "+0000" :is "received" "time" "10:00:05" { redirect "last-hop@example.net"; }
if header :index 2 :contains "received" "relay.example.com" { discard; }
