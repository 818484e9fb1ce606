# deeplabv3_r101-d8 inside a UDASegmentor with no adaptation method and no DA-KPN;
# configs inheriting this add them (model.methods, model.translation) and
# may override the segmentor (model.segmentor.*).
_base_ = ['../models/deeplabv3_r101-d8.py']
model = dict(
    _delete_=True,
    type='UDASegmentor',
    segmentor={{_base_.model}},
    methods=[],
    translation=None,
    target_translation=None,
    seed=0)
