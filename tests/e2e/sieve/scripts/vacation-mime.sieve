require "vacation";
if not header :contains "subject" "Auto" {
  vacation :mime text:
Content-Type: text/plain; charset=utf-8

Away.
.
;
}
