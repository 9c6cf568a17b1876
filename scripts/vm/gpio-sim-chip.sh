#!/bin/sh
# Inside the test VM (issue 18): one 32-line gpio-sim chip through configfs (lines 0-31, so the Raspberry
# Pi examples' BCM pins exist), labelled edgetwin-sim. Prints the chip's name (gpiochip0 in the VM).
set -eu
modprobe gpio-sim
cfg=/sys/kernel/config/gpio-sim/edgetwin
if [ ! -e "$cfg/live" ]; then
  mkdir "$cfg" "$cfg/bank0"
  echo 32 >"$cfg/bank0/num_lines"
  echo edgetwin-sim >"$cfg/bank0/label"
  echo 1 >"$cfg/live"
fi
cat "$cfg/bank0/chip_name"
