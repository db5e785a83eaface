require ["subaddress", "fileinto"];
if address :detail :is "cc" "work" { fileinto "Work"; }
