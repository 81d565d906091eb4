# ObjProp sized for a CPU on the embedded ToyVIS data (the book's model).
_base_ = ['_base_/models/objprop_r50_fpn.py', '_base_/toy.py']
model = {{_base_.toy_objprop_model}}
