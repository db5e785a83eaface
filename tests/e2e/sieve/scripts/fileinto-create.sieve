require ["fileinto", "mailbox"];
if header :contains "subject" "newsletter" { fileinto :create "Newsletters/Garden"; }
