require ["imap4flags", "fileinto"];
addflag "$label1";
if hasflag :is "$label1" { fileinto "Labelled"; }
