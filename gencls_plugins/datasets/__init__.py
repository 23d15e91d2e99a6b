"""Dataset sources: local files, Hugging Face hub datasets, and four bundled real corpora."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.datasets.bbc_news import BBCNews
from gencls_plugins.datasets.drug_reviews import DrugReviews
from gencls_plugins.datasets.hub import HubDataset
from gencls_plugins.datasets.local import LocalFile
from gencls_plugins.datasets.movie_reviews import MovieReviews
from gencls_plugins.datasets.trec_questions import TrecQuestions


@hookimpl
def gencls_register_datasets(register):
    register(LocalFile)
    register(HubDataset)
    register(MovieReviews)
    register(BBCNews)
    register(DrugReviews)
    register(TrecQuestions)


@hookimpl
def gencls_default_components():
    return {"dataset": "movie-reviews"}
