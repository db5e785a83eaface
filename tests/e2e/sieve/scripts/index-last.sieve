require ["index"];
if header :index 1 :last :is "x-spam-score" "15" { discard; }
