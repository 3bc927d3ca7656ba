# Copyright 2026 The disdepth_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Every ``disdepth`` subcommand, one module each, all of one shape.

A command module has ``add_arguments(parser)`` and ``run(args) -> int`` and nothing else of
substance: it turns the arguments into the library's option dataclasses, calls the library
(``disdepth_core``, or ``disdepth_ros`` for the commands that need ROS data), prints, and maps
errors to exit codes.  :mod:`disdepth_ros.cli` imports a command's module only when it runs.
"""
