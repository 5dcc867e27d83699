FROM busybox
COPY data.txt /
LABEL via=stdin
