require ["include", "fileinto"];
include :personal "spamrules";
if header :contains "subject" "lunch" { fileinto "Food"; }
