require "fileinto";
if header :contains "subject" "[dev]" { fileinto "Lists/dev"; }
elsif header :contains "subject" "order" { fileinto "Shopping"; }
