if address :domain :is "from" "example.com" { redirect "com@example.net"; }
elsif address :domain :is "from" "example.org" { redirect "org@example.net"; }
