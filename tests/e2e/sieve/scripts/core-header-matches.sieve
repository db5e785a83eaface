if header :matches "subject" "*report*" { redirect "reports@example.net"; }
