if address :all :comparator "i;octet" :is "from" "bob@example.com" { discard; }
