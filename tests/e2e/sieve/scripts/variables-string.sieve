require ["variables"];
if address :matches :localpart "from" "*" { set "who" "${1}"; }
if string :is "${who}" "bob" { redirect "is-bob@example.net"; }
