FROM busybox
ARG FLAVOR=plain
LABEL flavor=$FLAVOR
