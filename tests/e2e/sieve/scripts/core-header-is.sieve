if header :is "subject" "Lunch tomorrow?" { discard; } else { redirect "archive@example.net"; }
