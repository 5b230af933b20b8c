# Ember's container image: a Debian 12 build stage, then a slim runtime with only the shared
# libraries ember-issuer links against and ca-certificates. Non-root (numeric UID, so
# OpenShift's restricted SCC may assign another), no shell needed at run time, and a
# read-only root filesystem works: the binary writes nothing to disk.
#   docker build -t ember-issuer:dev .     (or: make image)

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc make pkg-config libc6-dev libssl-dev libmicrohttpd-dev libcjson-dev \
      libcurl4-openssl-dev libyaml-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY issuer/ issuer/
RUN make DEPS= WERROR=1 build/ember-issuer && strip build/ember-issuer

FROM debian:12-slim
# The runtime libraries of every library `ldd build/ember-issuer` shows (test_dockerfile.sh
# checks this list against the binary).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libcjson1 libssl3 libcurl4 libyaml-0-2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/ember-issuer /usr/local/bin/ember-issuer
USER 65532:65532
EXPOSE 8080 8081 8082
ENTRYPOINT ["/usr/local/bin/ember-issuer"]
