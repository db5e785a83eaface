require ["encoded-character", "fileinto"];
if header :contains "subject" "${unicode:00E9}" { fileinto "${hex:41 63 63 65 6e 74}"; }
