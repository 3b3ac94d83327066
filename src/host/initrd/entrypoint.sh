#!/.hypeman/bin/busybox sh
# shellcheck shell=dash
# hypeman-entrypoint WORKDIR PROGRAM [ARG...]: how /init starts the container's entrypoint,
# inside the container root, with the payload's busybox: changes to WORKDIR, then execs the
# program. A bare program name is looked up in PATH by hand, because this busybox prefers
# its own applets over the container's programs (`sh` would otherwise be busybox's, not the
# image's).
cd "$1" || exit 1
shift
case $1 in
  */*) ;;
  *)
    p=
    IFS=:
    for d in $PATH; do
      if [ -f "$d/$1" ] && [ -x "$d/$1" ]; then
        p=$d/$1
        break
      fi
    done
    unset IFS
    [ -n "$p" ] || {
      echo "hypeman-init: $1: not found in PATH=$PATH" >&2
      exit 127
    }
    shift
    set -- "$p" "$@"
    ;;
esac
exec "$@"
