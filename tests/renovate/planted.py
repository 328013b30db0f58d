"""Files planted next to the repository in the test extraction: pins that Renovate must be seen to miss."""

# New files that hold pins no manager in renovate.json5 reads (and one that a built-in manager does read), extracted
# in the same run as the repository so that the comparison is seen to fail where it should.
PLANTED = {
    # A Makefile variable without its `# renovate:` comment.
    "planted/Makefile": "# A tool nobody told Renovate about.\nFROBNICATE_VERSION := v1.2.3\n",
    # A Crossplane package outside crossplane/packages, where the crossplane manager does not look.
    "crossplane/planted/provider.yaml": (
        "apiVersion: pkg.crossplane.io/v1\nkind: Provider\nmetadata:\n  name: provider-planted\n"
        "spec:\n  package: xpkg.crossplane.io/crossplane-contrib/provider-planted:v0.1.0\n"
    ),
    # The dockerfile manager finds any Dockerfile: this pin is seen.
    "planted/Dockerfile": "FROM busybox:1.37.0\n",
}
