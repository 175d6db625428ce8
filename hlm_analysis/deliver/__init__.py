"""Delivery: email the rendered PDF to stakeholders, build and publish the website of reports."""
