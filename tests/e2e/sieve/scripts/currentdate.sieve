require ["date", "relational"];
if currentdate :value "ge" "year" "2020" { redirect "now@example.net"; }
