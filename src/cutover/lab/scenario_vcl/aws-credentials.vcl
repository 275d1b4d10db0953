# The object store's credentials, as 2018-era configurations kept them: a VCL table.
table aws {
  "access_key": "AKIALABPYPIFILES0001",
  "secret_key": "lab-secret-key-for-the-pypi-files-bucket",
}
