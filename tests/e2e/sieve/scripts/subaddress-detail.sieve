require ["envelope", "subaddress", "fileinto"];
if envelope :detail "to" "shopping" { fileinto "Shopping"; }
if address :user "to" "alice" { redirect "user-alice@example.net"; }
