require ["fileinto", "imap4flags", "variables", "envelope", "subaddress"];
if exists "list-id" {
  if header :matches "list-id" "*<*.lists.example.com>" { fileinto "Lists/${2}"; stop; }
}
if envelope :detail "to" "*" { addflag "\\Flagged"; }
if address :is "from" ["bob@example.com", "carol@example.org"] { fileinto :flags "\\Seen" "Friends"; }
