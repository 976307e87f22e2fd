# Sourced by scripts that drive Python tools: a virtual environment per tool set, outside the
# clone, rebuilt only when its requirements file changes.

# install_venv TOOLS NAME REQUIREMENTS: $TOOLS/$NAME, whose marker records the md5 of the
# requirements it was built from.
install_venv() {
  local tools=$1 name=$2 requirements=$3
  local venv="$tools/$name" marker="$tools/$name/.requirements.md5"
  local want
  want=$(md5sum "$requirements" | cut -d' ' -f1)
  if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
    echo "$name is up to date ($venv)"
    return
  fi
  echo "installing $name into $venv (a few minutes the first time)"
  rm -rf "$venv"
  mkdir -p "$tools"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$marker"
}
