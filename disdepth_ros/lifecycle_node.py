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
The managed ``disdepth`` node (``disdepth_lifecycle_node``): the same node behind transitions.

Same name, parameters, topics and behaviour as ``disdepth_node``
(:class:`~disdepth_ros.depth_node.DepthNodeMixin` is shared); the standard lifecycle services
(``<node>/change_state``, ``<node>/get_state``, ...) drive it:

* ``configure``: validate the parameters and load the model, create the publishers; on failure
  the node stays *unconfigured* and the reason is logged (fix the parameters and configure
  again);
* ``activate``: subscribe and start processing and publishing;
* ``deactivate``: unsubscribe and stop (the frame in progress is finished), the model stays
  loaded, so activating again is immediate;
* ``cleanup``: release the model and the publishers (back to *unconfigured*);
* ``shutdown`` (from any state): release everything (*finalized*).

A transition that is not possible in the current state (``activate`` while unconfigured, ...)
is refused with a warning that names the state and the transitions possible from it.  With
``--autostart`` on the command line the node configures and activates itself at start.  SIGINT
and SIGTERM shut it down as they do the plain node (no frame half published).
"""

import sys
from typing import Any, List, Optional

from lifecycle_msgs.srv import ChangeState
from rclpy.lifecycle import LifecycleNode
from rclpy.lifecycle import LifecycleState
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.utilities import remove_ros_args

from disdepth_ros.depth_node import create_estimator_for
from disdepth_ros.depth_node import DepthNodeMixin
from disdepth_ros.depth_node import EstimatorFactory
from disdepth_ros.depth_node import NODE_NAME
from disdepth_ros.depth_node import NodeStartupError
from disdepth_ros.depth_node import run

AUTOSTART_FLAG = '--autostart'
FINALIZED = 'finalized'


class LifecycleDepthNode(DepthNodeMixin, LifecycleNode):
    """
    The depth node as a managed node; it starts *unconfigured* (see the module docstring).

    :param estimator_factory: builds the estimator from the configuration (tests inject fakes)
    :param kwargs: passed to ``rclpy.lifecycle.LifecycleNode`` (context, namespace, ...)
    """

    def __init__(self, estimator_factory: EstimatorFactory = create_estimator_for,
                 **kwargs: Any) -> None:
        LifecycleNode.__init__(self, NODE_NAME, **kwargs)
        self._init_depth(estimator_factory)
        service = self._service_change_state
        service.callback = self._guarded(service.callback)

    # ----------------------------------------------------------------- wrong-order requests

    @property
    def state(self) -> str:
        """Name the current lifecycle state: ``unconfigured``, ``inactive``, ``active``, ..."""
        return self._state_machine.current_state[1]

    def refusal(self, transition_id: int, label: str = '') -> Optional[str]:
        """
        Explain why a transition is not possible now, or return None when it is.

        :param transition_id: ``lifecycle_msgs/Transition`` id (used when ``label`` is empty)
        :param label: transition label (``configure``, ``activate``, ...)
        :return: the reason, naming the state and the possible transitions, or None
        """
        available = self._state_machine.available_transitions
        for entry in available:
            if (label and entry[1] == label) or (not label and entry[0] == transition_id):
                return None
        possible = ', '.join(sorted({entry[1] for entry in available})) or 'none'
        return (f'transition {label or transition_id!r} refused: not possible from state '
                f'{self.state!r} (possible: {possible})')

    def _guarded(self, handle: Any) -> Any:
        def change_state(request: ChangeState.Request,
                         response: ChangeState.Response) -> ChangeState.Response:
            reason = self.refusal(request.transition.id, request.transition.label)
            if reason is not None:
                self.get_logger().warning(reason)
                response.success = False
                return response
            return handle(request, response)
        return change_state

    # ----------------------------------------------------------------- transitions

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the parameters and load the model; stay unconfigured on failure."""
        try:
            self.configure_depth()
        except NodeStartupError as exc:
            self.get_logger().error(f'configure failed, staying unconfigured: {exc}')
            return TransitionCallbackReturn.FAILURE
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe and start processing; stay inactive on failure."""
        try:
            self.activate_depth()
        except Exception as exc:  # rclpy would swallow it without a word
            self.get_logger().error(f'activate failed, staying inactive: '
                                    f'{type(exc).__name__}: {exc}')
            self.deactivate_depth()
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info('active')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop processing; the model stays loaded."""
        self.deactivate_depth()
        self.get_logger().info('inactive: subscriptions closed, model still loaded')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the model and the publishers."""
        self.cleanup_depth()
        self.get_logger().info('unconfigured: model and publishers released')
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything, whatever the state."""
        self.cleanup_depth()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything after a failed transition; the node can be configured again."""
        self.get_logger().error(f'a transition from {state.label!r} failed: releasing '
                                'everything')
        self.cleanup_depth()
        return TransitionCallbackReturn.SUCCESS

    def shutdown_depth(self) -> None:
        """Take the ``shutdown`` transition unless already finalized (used on SIGINT)."""
        if self.state != FINALIZED:
            self.trigger_shutdown()
        self.cleanup_depth()

    def destroy_node(self) -> None:
        """Release everything, then destroy the node."""
        self.cleanup_depth()
        super().destroy_node()


def autostart(node: LifecycleDepthNode) -> None:
    """
    Configure and activate ``node``; stop at the first transition that fails.

    :param node: an unconfigured node
    """
    if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
        node.trigger_activate()


def main(args: Optional[List[str]] = None) -> int:
    """
    Run the managed node until shutdown (entry point of ``disdepth_lifecycle_node``).

    :param args: command line (default ``sys.argv``): ``[--autostart] --ros-args ...``
    :return: process exit code: 0 on a normal shutdown, 2 for an unknown option
    """
    argv = list(sys.argv if args is None else args)
    own = remove_ros_args(argv)[1:]
    unknown = [a for a in own if a != AUTOSTART_FLAG]
    if unknown:
        print(f'disdepth_lifecycle_node: unknown option(s) {" ".join(unknown)}; usage: '
              f'disdepth_lifecycle_node [{AUTOSTART_FLAG}] [--ros-args ...]', file=sys.stderr)
        return 2
    return run(LifecycleDepthNode, argv, autostart if AUTOSTART_FLAG in own else None)


if __name__ == '__main__':
    sys.exit(main())
