"""The deployment's records: its folder, state, reports, review, grid, retention
and audit. Nothing here imports OpenCV or dlib: reports, review, grid and purge
run where no video library is installed.
"""
