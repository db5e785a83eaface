if exists ["list-id", "list-unsubscribe"] { redirect "lists@example.net"; stop; }
if exists "x-spam-flag" { discard; }
