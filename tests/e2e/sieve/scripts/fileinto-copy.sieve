require ["fileinto", "copy"];
if address :is "from" "carol@example.org" { fileinto :copy "Carol"; }
redirect :copy "backup@example.net";
