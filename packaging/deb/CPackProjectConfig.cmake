# Read by cpack while it makes each package. Each component's description
# starts with its own summary line; CPack would put the project's summary
# in front of it.
unset(CPACK_PACKAGE_DESCRIPTION_SUMMARY)
