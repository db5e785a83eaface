require ["body", "fileinto"];
if body :content "text/plain" :contains "UNSUBSCRIBE" { fileinto "Newsletters"; }
if body :content "application" :contains "x" { redirect "has-app@example.net"; }
