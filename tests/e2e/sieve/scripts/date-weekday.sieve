require ["date", "relational", "fileinto"];
if date :zone "+0000" :value "ge" "date" "hour" "12" { fileinto "Afternoon"; }
if date :zone "+0000" :is "date" "weekday" ["0", "6"] { redirect "weekend@example.net"; }
