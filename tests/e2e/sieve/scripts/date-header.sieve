require ["date", "fileinto"];
if date :is "date" "year" "2003" { fileinto "2003"; }
if date :originalzone :is "date" "zone" "+0200" { redirect "zone-plus2@example.net"; }
