"""Cloud-plane Lambdas: one folder per function, thin handlers over functions tested with moto."""
