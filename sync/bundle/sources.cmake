# Segment bundles: a sealed segment with its series dictionary, the unit a
# gateway pushes to a central node (included by sync/CMakeLists.txt).
list(APPEND NE_SYNC_SOURCES bundle/bundle.c bundle/bundle_in.c)
