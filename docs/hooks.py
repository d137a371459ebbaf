"""mkdocs hook: the reference pages made from what is installed (``ddcore.reference``): one
data-type page with its dependency graph per registered detector, and the command line."""

from mkdocs.structure.files import File

import ddcore
from ddcore import reference


def on_files(files, config):
    for detector in ddcore.detectors():
        graph = f"reference/{detector}_data_types.svg"
        files.append(File.generated(config, graph, content=reference.dependency_graph(detector)))
        page = reference.data_type_reference(detector, graph_image=f"{detector}_data_types.svg")
        files.append(File.generated(config, f"reference/{detector}.md", content=page))
    files.append(File.generated(config, "reference/cli.md", content=reference.cli_reference()))
    return files
