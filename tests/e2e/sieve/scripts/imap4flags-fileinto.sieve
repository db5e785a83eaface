require ["imap4flags", "fileinto"];
setflag "\\Seen important";
removeflag "important";
fileinto "Flagged";
keep :flags "\\Answered";
