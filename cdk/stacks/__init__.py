"""One construct per plane, composed into `EdgecvCloudStack`."""
