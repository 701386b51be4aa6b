"""What the spec models check, without pydantic: regexes, check functions, enums, constants and the
mixins of the models' methods.

They live apart from the models (pgrender/spec/*.py) so that the render path, and the compiled
validators of pgrender/spec/compiled.py, import them without pydantic: importing pydantic and building
the models is about two thirds of a cold one-cluster render. The models attach these same functions,
so both ways of validating say the same thing in the same words.
"""
