"""The example gencls plugin: one component of three kinds, registered through the ``gencls`` entry point."""

from gencls_core import hookimpl
from gencls_plugin_example.folder_dataset import FolderDataset
from gencls_plugin_example.question_prompt import QuestionPrompt
from gencls_plugin_example.starts_with_label import StartsWithLabel


@hookimpl
def gencls_register_reward_funcs(register):
    register(StartsWithLabel)


@hookimpl
def gencls_register_prompt_strategies(register):
    register(QuestionPrompt)


@hookimpl
def gencls_register_datasets(register):
    register(FolderDataset)
