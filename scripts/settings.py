"""The deployment settings a plain `make deploy` keeps: `-c key=value` pairs remembered in
a JSON file (infra/deploy-settings.json) by each successful deploy.

    settings.py args FILE               the remembered settings as `-c key=value` arguments
    settings.py remember FILE ARGS...   merge the `-c key=value` pairs of ARGS into FILE
    settings.py show FILE               the remembered settings, one a line
    settings.py endpoint OUTPUTS FILE   the main stack's EndpointUrl in cdk-outputs.json OUTPUTS,
                                        the stack named as FILE remembers it (or NowPlaying)

A setting given on the command line wins over the remembered one and is remembered in its
place; `-c key=` forgets it. Only stdlib: this runs before any virtualenv exists.
"""

import json
import sys
from pathlib import Path


def read(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        sys.exit(f"{path} is not JSON ({e}): fix or delete it; it holds the settings of your last make deploy")
    if not isinstance(settings, dict) or not all(isinstance(v, str) for v in settings.values()):
        sys.exit(f'{path} must be one JSON object of strings, e.g. {{"domainName": "np.example.com"}}')
    return settings


def pairs(args: list[str]) -> dict:
    """The `-c key=value` (or `--context key=value`) pairs of CDK arguments."""
    found, it = {}, iter(args)
    for arg in it:
        if arg in ("-c", "--context"):
            pair = next(it, "")
        elif arg.startswith("--context="):
            pair = arg.removeprefix("--context=")
        else:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            sys.exit(f"{arg} {pair}: a setting is -c key=value")
        found[key] = value
    return found


def endpoint(outputs_path: Path, settings: dict) -> str:
    """The main stack's `EndpointUrl`, by the stack's name: the outputs file also holds the
    certificate stack's when there is one, in no promised order."""
    stack = settings.get("stackName", "NowPlaying")
    try:
        outputs = json.loads(outputs_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"{outputs_path} could not be read ({e}): it is written by make deploy")
    url = outputs.get(stack, {}).get("EndpointUrl")
    if not url:
        sys.exit(f"{outputs_path} has no EndpointUrl for the stack {stack} (it has: {', '.join(outputs) or 'none'})")
    return url


def main(argv: list[str]) -> None:
    if len(argv) >= 3 and argv[0] == "endpoint":
        print(endpoint(Path(argv[1]), read(Path(argv[2]))))
        return
    if len(argv) < 2 or argv[0] not in ("args", "remember", "show"):
        sys.exit(__doc__)
    command, path = argv[0], Path(argv[1])
    settings = read(path)
    if command == "args":
        print(" ".join(f"-c {k}={v}" for k, v in sorted(settings.items())))
    elif command == "show":
        print("\n".join(f"  {k} = {v}" for k, v in sorted(settings.items())) or "  (none: the defaults)")
    else:
        merged = {k: v for k, v in (settings | pairs(argv[2:])).items() if v != ""}
        if merged != settings:
            path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
