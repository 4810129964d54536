"""The shared kernel: typed messages that cross planes. No AWS, torch or Triton imports here."""
