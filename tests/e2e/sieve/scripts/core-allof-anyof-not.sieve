if allof (header :contains "from" "bob", not header :contains "subject" "spam") { redirect "bob-mail@example.net"; }
if anyof (header :contains "subject" "won", header :contains "subject" "prize") { discard; }
