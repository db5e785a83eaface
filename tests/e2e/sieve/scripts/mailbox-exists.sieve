require ["mailbox", "fileinto"];
if mailboxexists "INBOX" { fileinto "HaveInbox"; }
if mailboxexists "Nonexistent/Folder" { discard; }
