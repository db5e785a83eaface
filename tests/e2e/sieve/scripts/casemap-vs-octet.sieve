if header :comparator "i;octet" :contains "subject" "won" { discard; }
if header :comparator "i;ascii-casemap" :contains "subject" "won" { redirect "casemap@example.net"; }
